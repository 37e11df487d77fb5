"""`hearth bench ...` implementations; each prints one JSON object to stdout."""
