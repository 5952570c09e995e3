-- The live feed's snapshot reads every KPI's cell of one day, province and units, without
-- breakdowns (ioc.storage.kpi_reads.day_cells: bucket = <day> AND dim = ''). The primary
-- key starts with the KPI and ends with the bucket, so on plain PostgreSQL that read went
-- through every stored day's cells: 63 ms at 36 days of 114 units (~500,000 cells),
-- growing with history; with this index, 0.4 ms (issue 14, ioc bench history).
CREATE INDEX IF NOT EXISTS kpi_1d_undivided_day ON kpi_1d (bucket, kpi) WHERE dim = '';
