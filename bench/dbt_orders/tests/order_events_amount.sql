select * from {{ ref('order_events') }} where not (amount >= 0)
