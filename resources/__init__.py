"""Icons, style sheets and catalog data, loaded with importlib.resources."""
