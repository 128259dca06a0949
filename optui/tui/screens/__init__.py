"""The five screens, one module each: chain, participants, premium (price toggle), breadth,
errors. Each is an `OptuiScreen`: it composes its body, shows a `ViewContext` and can hand
the rows on view to the export key."""
