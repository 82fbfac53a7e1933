"""The add-on bundle: what one cluster runs inside itself, rendered as plain files."""
