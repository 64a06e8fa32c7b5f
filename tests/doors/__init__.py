"""Every door gqlguard supports, behind one client interface (see ``clients.py``)."""
