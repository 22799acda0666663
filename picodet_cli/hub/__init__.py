"""Model hub: the cache folder (cache.py), HTTP downloads (download.py), pulling and resolving checkpoints
(pull.py) and the safe `.pdparams` loader (safe_load.py). Submodules are imported on use, never here."""
