"""The stages that turn features into decisions: training, registry, scoring, economics,
report, and the ``winback`` command line. See the README's layout section for a map."""
