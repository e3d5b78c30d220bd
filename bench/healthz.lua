-- GET /healthz: the HTTP baseline.
wrk.path = "/healthz"

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
