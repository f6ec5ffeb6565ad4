package db

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
)

// StatusReport compares a database with the schema the migrations produce.
type StatusReport struct {
	Applied        []string            `json:"applied"`
	Pending        []string            `json:"pending"`
	Changed        []string            `json:"changed"`
	MissingTables  []string            `json:"missing_tables"`
	MissingColumns map[string][]string `json:"missing_columns"`
	MissingIndexes []string            `json:"missing_indexes"`
}

// OK reports whether nothing is pending, changed or missing.
func (r StatusReport) OK() bool {
	return len(r.Pending) == 0 && len(r.Changed) == 0 && len(r.MissingTables) == 0 &&
		len(r.MissingColumns) == 0 && len(r.MissingIndexes) == 0
}

// Status reports pending migrations and schema differences. The expected
// schema is not a hand-kept list: it is read from a scratch in-memory
// database built by the same migrations, so it can never drift.
func Status(ctx context.Context, d *sql.DB) (StatusReport, error) {
	rep := StatusReport{MissingColumns: map[string][]string{}}
	migs, err := LoadMigrations(nil)
	if err != nil {
		return rep, err
	}
	applied, err := appliedVersions(ctx, d)
	if err != nil {
		return rep, err
	}
	for _, m := range migs {
		h, ok := applied[m.Version]
		switch {
		case !ok:
			rep.Pending = append(rep.Pending, m.Version)
		case h != "" && h != m.Checksum:
			rep.Changed = append(rep.Changed, m.Version)
		default:
			rep.Applied = append(rep.Applied, m.Version)
		}
	}
	want, err := ExpectedSchema(ctx)
	if err != nil {
		return rep, err
	}
	have, err := readSchema(ctx, d)
	if err != nil {
		return rep, err
	}
	for table, cols := range want.Columns {
		hc, ok := have.Columns[table]
		if !ok {
			rep.MissingTables = append(rep.MissingTables, table)
			continue
		}
		for c := range cols {
			if !hc[c] {
				rep.MissingColumns[table] = append(rep.MissingColumns[table], c)
			}
		}
		sort.Strings(rep.MissingColumns[table])
	}
	for idx := range want.Indexes {
		if !have.Indexes[idx] {
			rep.MissingIndexes = append(rep.MissingIndexes, idx)
		}
	}
	sort.Strings(rep.MissingTables)
	sort.Strings(rep.MissingIndexes)
	return rep, nil
}

// SchemaShape lists tables with their columns, and index names.
type SchemaShape struct {
	Columns map[string]map[string]bool
	Indexes map[string]bool
}

// ExpectedSchema builds the migrated schema in memory and returns its shape.
func ExpectedSchema(ctx context.Context) (SchemaShape, error) {
	registerDriver()
	mem, err := sql.Open(DriverName, "file:sv_expected?mode=memory&cache=private&_foreign_keys=1")
	if err != nil {
		return SchemaShape{}, err
	}
	defer mem.Close()
	// One connection: every new connection to a private in-memory
	// database would be a different, empty database.
	mem.SetMaxOpenConns(1)
	if _, err := Migrate(ctx, mem, MigrateOptions{}); err != nil {
		return SchemaShape{}, fmt.Errorf("build expected schema: %w", err)
	}
	return readSchema(ctx, mem)
}

func readSchema(ctx context.Context, q Execer) (SchemaShape, error) {
	s := SchemaShape{Columns: map[string]map[string]bool{}, Indexes: map[string]bool{}}
	rows, err := q.QueryContext(ctx, `SELECT type, name FROM sqlite_master WHERE type IN ('table','index') AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return s, Classify(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			rows.Close()
			return s, err
		}
		if typ == "table" {
			tables = append(tables, name)
		} else {
			s.Indexes[name] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	for _, t := range tables {
		cols, err := tableColumns(ctx, q, t)
		if err != nil {
			return s, err
		}
		s.Columns[t] = cols
	}
	return s, nil
}
