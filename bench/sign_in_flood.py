#!/usr/bin/env python3
"""A sign-in flood against the admin site, for bench/run.sh.

ATTACKERS threads post wrong passwords for random usernames from IPS
source addresses on loopback (127.0.10.0 and up; Linux lets a socket bind
any 127.0.0.0/8 address). Each address gets its own cookie session and CSRF
token, as a browser would. Runs for SECONDS, then prints one line:

FLOOD attempts=N seconds=S per_s=R s401=.. s429=.. s503=.. other=..
"""
import argparse
import http.client
import random
import re
import threading
import time
import urllib.parse


def session(host, port, ip):
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(ip, 0))
    conn.request("GET", "/admin/login")
    r = conn.getresponse()
    html = r.read().decode()
    cookie = r.getheader("Set-Cookie").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    return conn, cookie, csrf


def attacker(host, port, ips, deadline, counts, lock):
    local = {}
    sessions = {}
    while time.time() < deadline:
        for ip in ips:
            if time.time() >= deadline:
                break
            try:
                if ip not in sessions:
                    sessions[ip] = session(host, port, ip)
                conn, cookie, csrf = sessions[ip]
                body = urllib.parse.urlencode({
                    "csrf": csrf,
                    "username": "user%d" % random.randrange(1000),
                    "password": "wrong password %d" % random.randrange(10**9),
                    "next": "/admin",
                })
                conn.request("POST", "/admin/login", body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
                r = conn.getresponse()
                r.read()
                key = "s%d" % r.status if r.status in (401, 429, 503) else "other"
            except Exception:
                sessions.pop(ip, None)
                key = "other"
            local[key] = local.get(key, 0) + 1
    with lock:
        for k, v in local.items():
            counts[k] = counts.get(k, 0) + v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--attackers", type=int, default=16)
    p.add_argument("--ips", type=int, default=150)
    a = p.parse_args()
    url = urllib.parse.urlparse(a.base)
    ips = ["127.0.%d.%d" % (10 + i // 250, 1 + i % 250) for i in range(a.ips)]
    counts, lock = {}, threading.Lock()
    started = time.time()
    deadline = started + a.seconds
    threads = [threading.Thread(target=attacker,
                                args=(url.hostname, url.port, ips[i::a.attackers], deadline, counts, lock))
               for i in range(a.attackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    total = sum(counts.values())
    print("FLOOD attempts=%d seconds=%.1f per_s=%.1f s401=%d s429=%d s503=%d other=%d" % (
        total, took, total / took, counts.get("s401", 0), counts.get("s429", 0),
        counts.get("s503", 0), counts.get("other", 0)))


if __name__ == "__main__":
    main()
