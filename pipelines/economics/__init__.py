"""Win-back economics: channels and offers, the budgeted contact plan, campaigns, the list.

``channels`` reads ``configs/channels.yaml``, ``plan`` computes contact options and the
budgeted selection, ``campaign`` measures campaigns against their control groups, ``rank``
turns a scores file into the marketer's list.
"""
