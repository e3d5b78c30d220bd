#!/usr/bin/env python3
"""Admin-site and CSV measurements for bench/run.sh: standard library only.

    admin_bench.py list  --base URL --user U --password-file F --openid O --nickname N --samples 100
    admin_bench.py csv   --base URL --user U --password-file F --pid PID --native CMD...

Prints one `KEY=VALUE ...` line per measurement. Exits non-zero if a page
does not answer 200 or shows no rows where it must.
"""

import argparse
import html
import http.client
import re
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit


class Admin:
    """A signed-in admin: one keep-alive connection and the session cookie."""

    def __init__(self, base, user, password):
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        self.cookie = ""
        page = self.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)
        body = urlencode(
            {"csrf": html.unescape(csrf), "username": user, "password": password, "next": "/admin"}
        )
        status, _ = self.request(
            "POST", "/admin/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 303:
            sys.exit(f"admin sign-in failed: {status}")

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                self.cookie = v.split(";", 1)[0]
        return r.status, data.decode("utf-8", "replace")

    def get(self, path):
        status, page = self.request("GET", path)
        if status != 200:
            sys.exit(f"GET {path}: status {status}")
        return page


def rows(page):
    return len(re.findall(r'href="/admin/users/\d+"', page.split("<tbody>", 1)[-1]))


def next_link(page):
    m = re.search(r'rel="next" href="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else None


def timed(admin, path, samples):
    admin.get(path)  # warm-up
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        page = admin.get(path)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return statistics.median(times), p99, rows(page)


def list_cases(a):
    admin = Admin(a.base, a.user, open(a.password_file).read().strip())
    # A page 10,000 rows deep: 200 "next" links from the first page, 50 rows each.
    path, walked, started = "/admin/users", 0, time.perf_counter()
    for _ in range(a.depth_pages):
        page = admin.get(path)
        walked += rows(page)
        nxt = next_link(page)
        if not nxt:
            sys.exit(f"no next link after {walked} rows")
        path = nxt
    walk = time.perf_counter() - started
    print(f"WALK pages={a.depth_pages} rows={walked} seconds={walk:.3f} per_page_ms={walk * 1000 / a.depth_pages:.2f}")
    cases = [
        ("first", "/admin/users", True),
        ("deep", path, True),
        ("openid", "/admin/users?" + urlencode({"q": a.openid}), True),
        ("nickname", "/admin/users?" + urlencode({"q": a.nickname}), True),
        ("province", "/admin/users?" + urlencode({"province": a.province, "sort": "last_login_at", "order": "desc"}), True),
        # The overview with its charts (30 and 90 days, gender, provinces),
        # drawn from the rollup tables.
        ("overview", "/admin", False),
    ]
    failed = False
    for name, p, must_have_rows in cases:
        median, p99, n = timed(admin, p, a.samples)
        print(f"CASE name={name} median_ms={median:.2f} p99_ms={p99:.2f} rows={n} samples={a.samples}")
        if must_have_rows and n == 0:
            print(f"case {name} shows no rows: {p}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


class RssSampler(threading.Thread):
    """The peak VmRSS of a process, sampled every 10 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def rss(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            pass
        return 0

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.01)

    def finish(self):
        self.stop.set()
        self.join()
        return self.peak


def csv_case(a):
    admin = Admin(a.base, a.user, open(a.password_file).read().strip())
    # wxlogin: the admin site's export, read as fast as it comes.
    sampler = RssSampler(a.pid)
    sampler.start()
    started = time.perf_counter()
    admin.conn.request("GET", "/admin/users.csv", headers={"Cookie": admin.cookie})
    r = admin.conn.getresponse()
    if r.status != 200:
        sys.exit(f"CSV export: status {r.status}")
    lines = size = 0
    while chunk := r.read1(1 << 20):
        lines += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - started
    peak = sampler.finish()
    n = lines - 1
    print(f"CSV who=wxlogin rows={n} bytes={size} seconds={seconds:.3f} rows_per_s={n / seconds:.0f} peak_rss_mib={peak / 2**20:.1f}")
    # The native command line client, on the same rows.
    started = time.perf_counter()
    proc = subprocess.Popen(a.native, stdout=subprocess.PIPE)
    sampler = RssSampler(proc.pid)
    sampler.start()
    lines = size = 0
    while chunk := proc.stdout.read1(1 << 20):
        lines += chunk.count(b"\n")
        size += len(chunk)
    proc.wait()
    seconds = time.perf_counter() - started
    peak = sampler.finish()
    if proc.returncode != 0:
        sys.exit(f"native export failed: {proc.returncode}")
    print(f"CSV who=native rows={lines} bytes={size} seconds={seconds:.3f} rows_per_s={lines / seconds:.0f} peak_rss_mib={peak / 2**20:.1f}")
    if n <= 0 or n != lines:
        sys.exit(f"row counts differ: wxlogin {n}, native {lines}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["list", "csv"])
    p.add_argument("--base", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--openid")
    p.add_argument("--nickname", default="明")
    p.add_argument("--province", default="广东")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--depth-pages", type=int, default=200)
    p.add_argument("--pid", type=int)
    p.add_argument("--native", nargs=argparse.REMAINDER)
    a = p.parse_args()
    list_cases(a) if a.mode == "list" else csv_case(a)


if __name__ == "__main__":
    main()
