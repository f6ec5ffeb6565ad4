// Package schema embeds Supervisor's numbered SQL migrations.
//
// File names are NNNN_name.sql and are applied in name order. The first
// comment line "-- description: …" is recorded in schema_migrations. Besides
// plain SQL a migration may contain directive lines that pkg/db interprets,
// because SQLite has no "ADD COLUMN IF NOT EXISTS" and databases written by the
// original PHP system differ in which columns they have:
//
//	-- sv:ensure-column <table> <column> <column definition…>
//	-- sv:copy-column-if-exists <table> <from> <to>   (UPDATE t SET to=from WHERE to IS NULL)
//
// Number ranges keep parallel work from colliding: 0001–0099 foundation,
// 0100 jobs, 0200 scan/media, 0300 web, 0400 ollama, 0500 forge, 0900 data
// repairs that need every table (they run last on an upgraded database).
package schema

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
