-- silver/orders.sql: the orders with new events, recomputed from all their events.
{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
with events as (
  select * from {{ ref('order_events') }}
  {% if is_incremental() %}
  where order_id in (select order_id from {{ ref('order_events') }}
                     where _loaded_at > (select max(_loaded_at) from {{ this }}))
  {% endif %}
)
select order_id, customer_id, category, amount, status, channel, updated_at, order_date,
       loaded as _loaded_at
from (
  select *,
         row_number() over (partition by order_id
                            order by updated_at desc, status desc, amount desc,
                                     category desc, channel desc) as latest,
         cast(min(updated_at) over (partition by order_id) as date) as order_date,
         max(_loaded_at) over (partition by order_id) as loaded
  from events
) as ranked
where latest = 1
