-- The executors a worker runs (`worker.executors`), advertised with its
-- heartbeat so `cluster.members` lists them and `run.get` can say that no
-- live worker offers a waiting step's executor. NULL for coordinators and
-- for workers of releases that did not advertise them.
ALTER TABLE cluster_members ADD COLUMN executors text[];
