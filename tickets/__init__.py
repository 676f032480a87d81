"""Alert tickets and the city-management case lifecycle (数字城管 closed loop).

Pure core: ``calendar`` (working time), ``lifecycle`` (stages, actions, roles), ``escalation``
(督办), ``grouping`` (one violation = one case), ``verification`` (proof from evidence), ``kpi``.
Shell: ``store`` (SQLAlchemy, SQLite or PostgreSQL, alembic migrations), ``outbox`` (webhook),
``live`` (positions read model), ``service`` + ``api`` (HTTP API and the dispatch console).
"""
