-- Write a batch of leads, each only if nobody changed it since it was read (compare-and-set on the
-- version that starts its record), with the outbox to keep until Kafka acknowledges it.
-- One call per batch: per-lead calls cost more in the client than the writes cost in Redis.
--
-- KEYS  per lead: its record, its outbox
-- ARGV  per lead: the version read ('0' for a new lead), the new record (starting with the next
--       version), the outbox ('' for none)
-- Returns the positions (1-based) of the leads that changed under us; those were not written.
local conflicts = {}
for i = 1, #KEYS / 2 do
  local record, outbox = KEYS[2 * i - 1], KEYS[2 * i]
  local current = redis.call('GET', record)
  local version = current and string.match(current, '^(%d+)\n') or '0'
  if version ~= ARGV[3 * i - 2] then
    conflicts[#conflicts + 1] = i
  else
    redis.call('SET', record, ARGV[3 * i - 1])
    if ARGV[3 * i] == '' then
      redis.call('DEL', outbox)
    else
      redis.call('SET', outbox, ARGV[3 * i])
    end
  end
end
return conflicts
