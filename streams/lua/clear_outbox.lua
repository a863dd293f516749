-- Forget a lead's outbox once exactly that outbox has been delivered to Kafka; a newer outbox
-- (written meanwhile, holding this one plus more) stays.
-- KEYS[1] the lead's outbox; ARGV[1] the outbox value that was sent.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
