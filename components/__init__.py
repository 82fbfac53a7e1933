"""Pulumi components: the only code that creates resources."""
