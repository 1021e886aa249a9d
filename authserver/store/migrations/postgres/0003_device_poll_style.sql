-- The client authentication style of a device authorization's last poll
-- ("header" or "body"; '' when unknown or when its poll grace was used): the
-- poll grace is only for a re-send in the other style (issue #15).
ALTER TABLE device_auths ADD COLUMN last_poll_style TEXT NOT NULL DEFAULT '';
