-- Where each ingestion node's loader has got to in its spool. Updated in the same
-- transaction as the rows it loads, so a crash never loses nor repeats a frame.

CREATE TABLE seam_meta.spool_progress (
    spool_id    text        PRIMARY KEY,
    segment     bigint      NOT NULL,
    "offset"    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE seam_meta.spool_progress IS 'Loader progress per spool directory: every frame before (segment, offset) is stored in the lake.';
COMMENT ON COLUMN seam_meta.spool_progress.spool_id IS 'Identity of the spool directory (its spool.id file).';
COMMENT ON COLUMN seam_meta.spool_progress.segment IS 'Segment number of the next frame to load.';
COMMENT ON COLUMN seam_meta.spool_progress."offset" IS 'Byte offset of the next frame to load within that segment.';
COMMENT ON COLUMN seam_meta.spool_progress.updated_at IS 'When the loader last advanced.';
