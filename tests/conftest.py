"""Test-wide settings: nothing in the test run may reach the network."""

from ttc_plugins._extras import prefer_offline

prefer_offline()
