"""`make run`: the web server and the django-q2 cluster side by side; Ctrl-C stops both.

Both run in their own sessions so the terminal's Ctrl-C reaches only this launcher, which
then stops the web server's process group and the cluster's main process alone (a signal to
the cluster's whole process group can hang django-q2).
"""

import os
import signal
import subprocess
import sys
import time

HOST = os.environ.get("RELANCE_HOST", "127.0.0.1:8000")


def main() -> int:
    manage = [sys.executable, "manage.py"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cluster = subprocess.Popen([*manage, "qcluster"], env=env, start_new_session=True)
    web = subprocess.Popen([*manage, "runserver", HOST], env=env, start_new_session=True)
    print(f"Relance is running on http://{HOST}/ (web pid {web.pid}, worker pid {cluster.pid}). Ctrl-C stops both.")

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and web.poll() is None and cluster.poll() is None:
            time.sleep(0.3)
    finally:
        if web.poll() is None:
            # runserver's autoreloader and its child form their own group: stop both.
            os.killpg(web.pid, signal.SIGINT)
        if cluster.poll() is None:
            cluster.send_signal(signal.SIGTERM)
        for proc, name in ((web, "web server"), (cluster, "worker")):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"The {name} did not stop in 20 s; killing it.")
                proc.kill()
                proc.wait()
    code = 0 if stopping else 1
    if not stopping:
        print("A process stopped on its own; the other one was stopped too.")
    return code


if __name__ == "__main__":
    sys.exit(main())
