-- When a run was last replayed. A replay starts the run again on the same row, so created_at no
-- longer says when its current try began: the console counts a replayed run's duration and draws its
-- timeline from here, and shows the attempts before it as history. Not indexed (nothing filters on
-- it), so setting it keeps a replay's update of the run row HOT.
ALTER TABLE run ADD COLUMN replayed_at timestamptz;
