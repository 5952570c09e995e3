"""PostgreSQL/TimescaleDB storage: migrations, the transactional KPI writer, and reads."""
