-- gold/daily_revenue.sql: the (day, category) keys of changed orders, recomputed.
{{ config(materialized='incremental', unique_key=['order_date', 'category'],
          incremental_strategy='delete+insert') }}
select o.order_date, o.category, sum(o.amount) as revenue, count(*) as orders,
       max(o._loaded_at) as _loaded_at
from {{ ref('orders') }} as o
where o.status <> 'cancelled'
{% if is_incremental() %}
  and exists (select 1 from {{ ref('orders') }} as c
              where c._loaded_at > (select max(_loaded_at) from {{ this }})
                and c.order_date = o.order_date and c.category = o.category)
{% endif %}
group by o.order_date, o.category
