"""The ``upwell`` command line."""
