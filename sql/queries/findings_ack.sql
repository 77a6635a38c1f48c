-- findings_ack: acknowledge one finding (re-evaluation keeps these columns).
UPDATE findings
SET acknowledged_at = $at, acknowledged_by = $by, acknowledged_note = $note
WHERE id = $id
