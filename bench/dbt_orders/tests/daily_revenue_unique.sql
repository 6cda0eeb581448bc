select order_date, category from {{ ref('daily_revenue') }} group by 1, 2 having count(*) > 1
