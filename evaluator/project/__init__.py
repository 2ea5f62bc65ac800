"""Projects: the evaluation a file belongs to (flakes, ``default.nix``), found with no settings.

See ``context`` for the API (``ProjectContext``); ``lock`` reads ``flake.lock``,
``source`` describes a workspace flake's tree, ``flake`` evaluates flakes
offline, ``entries`` discovers the entry points, ``cache`` keeps what depends
only on locked inputs on disk.
"""
