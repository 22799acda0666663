"""Runtime adapters that run exported PicoDet artifacts (one per runtime, see registry.py)."""
