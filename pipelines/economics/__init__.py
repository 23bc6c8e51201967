"""Win-back economics: whom it is worth waking, by which channel, under a budget, and what
past campaigns taught.

Settings
    ``channels``: channels, margin, offers and rules from ``configs/channels.yaml``.
The plan (pure functions over a scores table; no file read or written)
    ``options``: the scores checked at the boundary, each customer's offer, and every
    (customer, channel) option with its chance of a return, value and expected cost;
    ``selection``: one ordering of every move worth making, cut at the budget (the
    knapsack, its guarantees and the LP bound);
    ``reasons``: the contact-by date, the offer's text and the row's reason in words;
    ``prepared``: the budget-independent part of a plan (options and sequence), computed
    once, and a budget's cut of it (what ``POST /rank`` keeps between requests);
    ``list_rows``: the list's rows, with the words written for any subset of them;
    ``plan``: :func:`plan.plan_winback` puts them together into the ranked list.
Campaigns
    ``campaign_log``: reading and checking a campaign log;
    ``intervals``: Wilson, Newcombe, Wald and mean-difference confidence intervals;
    ``campaign``: measuring treatment against control, and ``winback campaign import``;
    ``campaign_results``: the stored results and the response rates rankings take from them.
Files and words
    ``lists``: the list's CSV, written for a CRM and read back for the report;
    ``rank``: the ``winback rank`` stage (scores file in, CSV out);
    ``money``: how an amount of money is written, everywhere.
"""
