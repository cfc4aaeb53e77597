-- wrk script: GET one path, rotating the Cookie header over the lines of a file.
-- Usage: wrk ... -s bench/rotate.lua http://127.0.0.1:PORT -- /path [cookie-file]
-- Counts every non-2xx answer (wrk itself counts only >= 400) and prints one line
-- "BENCH_JSON {...}" with the totals for bench/wrk.py to read.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1] or "/"
   local cookies = {}
   if args[2] and args[2] ~= "" then
      for line in io.lines(args[2]) do
         if #line > 0 then cookies[#cookies + 1] = line end
      end
   end
   -- Requests are built once here; request() only picks the next one.
   reqs = {}
   if #cookies == 0 then
      reqs[1] = wrk.format("GET", path, {["X-CSRF"] = "1"})
   else
      for i, cookie in ipairs(cookies) do
         reqs[i] = wrk.format("GET", path, {["X-CSRF"] = "1", ["Cookie"] = cookie})
      end
   end
   n = id  -- threads start at different cookies
   non2xx = 0
   last_bad = 0
end

function request()
   n = n + 1
   return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      last_bad = status
   end
end

function done(summary, latency, requests)
   local bad, last = 0, 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
      if thread:get("last_bad") ~= 0 then last = thread:get("last_bad") end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, ' ..
      '"last_bad_status": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
      '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, bad, last, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
