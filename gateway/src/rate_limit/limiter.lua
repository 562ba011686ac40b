-- Tollgate rate limits: one atomic call per request (docs/design.md, "Rate limits").
--
-- A window of N sub-buckets of g ms is a hash: field "h" is the newest bucket index, fields
-- "0".."N" a ring of N+1 counts (slot j % (N+1) holds bucket j). The arithmetic is the same as
-- gateway/src/rate_limit/window.rs; tests/rate_limits.rs checks that the two agree.
--
-- admit:  KEYS = {minute, day, tokens} (one wallet: same hash tag)
--         ARGV = {"admit", now_ms (0 = Redis TIME), rpm, rpd, tpm (0 = no limit),
--                 minute_buckets, minute_width_ms, day_buckets, day_width_ms}
--         -> {allowed, reason (0 none, 1 rpm, 2 rpd, 3 tpm), retry_ms,
--             req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms}
--            (a limit of -1: not limited)
-- charge: KEYS = {tokens}; ARGV = {"charge", now_ms, tokens, minute_buckets, minute_width_ms}
if redis.replicate_commands then redis.replicate_commands() end

local F = {'0','1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17',
           '18','19','20','21','22','23','24','25','26','27','28','29','30','31'}

local function now_ms(arg)
  local n = tonumber(arg)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load(key, n, g, now)
  local s = n + 1
  local raw = redis.call('HMGET', key, 'h', unpack(F, 1, s))
  local b = math.floor(now / g)
  local head = tonumber(raw[1]) or b
  if b < head then b = head end
  local w = {key = key, s = s, g = g, b = b, head = head, c = {}, total = 0}
  for j = math.max(0, b - n), b do
    local v = 0
    if j <= head then v = tonumber(raw[(j % s) + 2]) or 0 end
    w.c[j] = v
    w.total = w.total + v
  end
  return w
end

local function add(w, n)
  local args = {'h', w.b}
  for j = math.max(w.head + 1, w.b - w.s + 1), w.b - 1 do
    args[#args + 1] = F[(j % w.s) + 1]
    args[#args + 1] = 0
  end
  w.c[w.b] = w.c[w.b] + n
  args[#args + 1] = F[(w.b % w.s) + 1]
  args[#args + 1] = w.c[w.b]
  redis.call('HSET', w.key, unpack(args))
  redis.call('PEXPIRE', w.key, w.s * w.g)
  w.total = w.total + n
end

local function retry_after(w, limit, now)
  if w.total < limit then return 0 end
  local left = w.total
  for j = math.max(0, w.b - w.s + 1), w.b do
    left = left - w.c[j]
    if left < limit then return math.max(0, (j + w.s) * w.g - now) end
  end
  return math.max(0, (w.b + w.s) * w.g - now)
end

local function reset_after(w, now)
  for j = w.b, math.max(0, w.b - w.s + 1), -1 do
    if w.c[j] > 0 then return math.max(0, (j + w.s) * w.g - now) end
  end
  return 0
end

local now = now_ms(ARGV[2])
if ARGV[1] == 'charge' then
  add(load(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5]), now), tonumber(ARGV[3]))
  return 1
end

local rpm, rpd, tpm = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local mn, mg, dn, dg = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local reason, retry = 0, 0
local function refuse(code, ms)
  if reason == 0 or ms > retry then reason, retry = code, ms end
end
local t, m, d
if tpm > 0 then
  t = load(KEYS[3], mn, mg, now)
  if t.total >= tpm then refuse(3, retry_after(t, tpm, now)) end
end
if rpm > 0 then
  m = load(KEYS[1], mn, mg, now)
  if m.total >= rpm then refuse(1, retry_after(m, rpm, now)) end
end
if rpd > 0 then
  d = load(KEYS[2], dn, dg, now)
  if d.total >= rpd then refuse(2, retry_after(d, rpd, now)) end
end
if reason == 0 then
  if m then add(m, 1) end
  if d then add(d, 1) end
end

local function quota(w, limit)
  return {limit, math.max(0, limit - w.total), reset_after(w, now)}
end
local req = {-1, 0, 0}
if reason == 2 then
  req = quota(d, rpd)
elseif reason == 1 then
  req = quota(m, rpm)
elseif m and d then
  local qm, qd = quota(m, rpm), quota(d, rpd)
  if qd[2] < qm[2] then req = qd else req = qm end
elseif m then
  req = quota(m, rpm)
elseif d then
  req = quota(d, rpd)
end
local tok = {-1, 0, 0}
if t then tok = quota(t, tpm) end
local allowed = 0
if reason == 0 then allowed = 1 end
return {allowed, reason, retry, req[1], req[2], req[3], tok[1], tok[2], tok[3]}
