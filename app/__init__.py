"""Yaoshi (药师): customer care for retail and DTP pharmacy chains."""

import os

# Piccolo finds its engine through this module; set before any table is used.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
