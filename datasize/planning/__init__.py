"""Per-class curves -> a collection plan: groups of classes, allocation, the plan."""
