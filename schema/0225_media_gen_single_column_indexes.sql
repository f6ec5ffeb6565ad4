-- description: media_gen indexes on the value alone (issue #18): media_id is the rowid, which every index entry already carries after its value, so 0220's (value, media_id) indexes stored it twice (23 % larger, same order, same query plans)
-- A separate migration rather than an edit of 0220, whose checksum is
-- recorded in catalogues created since. media_gen is empty until writers
-- and prompts-rebuild fill it, so the rebuild is instant where 0220 just ran.
DROP INDEX IF EXISTS idx_media_gen_software;
DROP INDEX IF EXISTS idx_media_gen_model;
DROP INDEX IF EXISTS idx_media_gen_model_hash;
DROP INDEX IF EXISTS idx_media_gen_sampler;
DROP INDEX IF EXISTS idx_media_gen_scheduler;
DROP INDEX IF EXISTS idx_media_gen_steps;
DROP INDEX IF EXISTS idx_media_gen_cfg;
DROP INDEX IF EXISTS idx_media_gen_denoise;
CREATE INDEX IF NOT EXISTS idx_media_gen_software ON media_gen(software);
CREATE INDEX IF NOT EXISTS idx_media_gen_model ON media_gen(model);
CREATE INDEX IF NOT EXISTS idx_media_gen_model_hash ON media_gen(model_hash) WHERE model_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_gen_sampler ON media_gen(sampler);
CREATE INDEX IF NOT EXISTS idx_media_gen_scheduler ON media_gen(scheduler) WHERE scheduler IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_gen_steps ON media_gen(steps);
CREATE INDEX IF NOT EXISTS idx_media_gen_cfg ON media_gen(cfg);
CREATE INDEX IF NOT EXISTS idx_media_gen_denoise ON media_gen(denoise) WHERE denoise IS NOT NULL;
