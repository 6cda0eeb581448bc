select * from {{ ref('daily_revenue') }} where not (revenue >= 0)
