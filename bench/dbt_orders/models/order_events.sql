-- silver/order_events.sql: the rows bronze gained since the last run, appended.
{{ config(materialized='incremental') }}
select order_id, customer_id, lower(trim(category)) as category, amount,
       lower(trim(status)) as status, updated_at, 'shop' as channel, _loaded_at
from {{ ref('bronze_shop_orders') }}
{% if is_incremental() %}
where _loaded_at > (select max(_loaded_at) from {{ this }})
{% endif %}
union all
select order_id, customer_id, lower(trim(category)) as category,
       cast(amount as decimal(10,2)) as amount,
       lower(trim(status)) as status, updated_at, 'app' as channel, _loaded_at
from {{ ref('bronze_app_events') }}
{% if is_incremental() %}
where _loaded_at > (select max(_loaded_at) from {{ this }})
{% endif %}
