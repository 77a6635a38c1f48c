-- user_sessions_user_index: an ART index on user_id, so that one user's login history reads
-- only that user's rows instead of scanning every session (rows are stored in id order, so zone
-- maps on user_id prune nothing). DuckDB uses an index for an equality filter on its one column,
-- hence user_id alone (a filter on org as well still uses it). 5M sessions, one user through
-- the login_history view: 25-27 ms without, 13-16 ms with. Added in schema version 2.
CREATE INDEX IF NOT EXISTS user_sessions_user_idx ON user_sessions (user_id);
