"""The HTTP routes; each calls service functions and converts with `views`."""
