"""A plugin that calls sys.exit() at import time."""

import sys

sys.exit("this plugin refuses to load")
