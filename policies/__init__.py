"""fleetform's security policy: the rules (``rules/``, pure, one module per concern) and
the Pulumi CrossGuard pack built from them (``pack.py``, run by ``__main__.py`` under
``pulumi preview --policy-pack policies``). ``fleetform.engine.policy`` runs the same
rules offline."""
