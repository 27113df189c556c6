"""The dashboard's frame, shared by every app's pages: roles, htmx requests, list pages.

It sits below `billing` (every app's views use it) and imports none of the apps.
"""
