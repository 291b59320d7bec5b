== read |
SELECT 1
