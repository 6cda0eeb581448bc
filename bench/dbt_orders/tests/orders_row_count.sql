select 1 from (select count(*) as row_count from {{ ref('orders') }}) where not (row_count > 0)
