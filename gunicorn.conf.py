"""gunicorn settings for Relance's web process, read from the checkout's root:

    gunicorn config.wsgi --config gunicorn.conf.py --bind 127.0.0.1:8000

Workers: WEB_CONCURRENCY (gunicorn reads it itself; default 1). Logs: error and access logs on
stderr in Relance's format (LOG_FORMAT=text|json, see config/logging.py).
"""

from config.logging import gunicorn_logging

logconfig_dict = gunicorn_logging()
# Client address, method, path, status, size, referrer, user agent, duration in microseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
# gunicorn ≥ 25 opens a control socket at one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn):
# two installs (or a test beside a server) would share it. Relance is stopped with signals.
control_socket_disable = True
