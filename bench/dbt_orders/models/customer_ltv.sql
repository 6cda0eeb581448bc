-- gold/customer_ltv.sql: recomputed on every run.
{{ config(materialized='table') }}
select customer_id, count(*) as orders, sum(amount) as lifetime_value,
       min(order_date) as first_order, max(order_date) as last_order
from {{ ref('orders') }}
where status <> 'cancelled'
group by customer_id
