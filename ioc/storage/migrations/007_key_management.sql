-- Keys are managed by admins: each has a number to name it by, a record of who created and
-- revoked it.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS id bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_id ON api_tokens (id);
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS revoked_by text;
