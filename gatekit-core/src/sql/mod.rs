//! PostgreSQL statement classification.
