-- Card data in texts: the shapes payivr.core.redact removes from a customer's text before it
-- is kept (a card number written in groups, an expiry date, a security code next to its name)
-- are refused here too, as a second line of defence. Texts kept before this check had only
-- runs of 7+ digits removed: any that still hold card data are blanked.

-- True for consecutive digit groups (4111 1111 1111 1111, 4111-1111-…, 4111.1111.…) that
-- join into 13 to 19 digits passing the Luhn check.
CREATE FUNCTION payivr_has_grouped_pan(value text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    written text;
    groups text[];
    joined text;
    first int;
    next int;
BEGIN
    IF value IS NULL THEN
        RETURN false;
    END IF;
    FOR written IN
        SELECT m[1] FROM regexp_matches(value, '(?<![0-9])([0-9]+(?:[ .-][0-9]+)+)(?![0-9])', 'g') AS m
    LOOP
        groups := regexp_split_to_array(written, '[ .-]');
        FOR first IN 1 .. array_length(groups, 1) LOOP
            joined := '';
            FOR next IN first .. array_length(groups, 1) LOOP
                joined := joined || groups[next];
                EXIT WHEN length(joined) > 19;
                IF length(joined) >= 13 AND payivr_has_pan(joined) THEN
                    RETURN true;
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    RETURN false;
END
$$;

-- The same shapes as payivr.core.redact.has_card_data (\y is a word boundary).
CREATE FUNCTION payivr_has_card_data(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN payivr_has_pan(value)
        OR payivr_has_grouped_pan(value)
        OR value ~ '(?<![0-9/])(0?[1-9]|1[0-2]) ?/ ?(20[0-9]{2}|[0-9]{2})(?![0-9/])'
        OR value ~* '\y(exp|expiry|expires|expiration|valid (thru|through|until)|good thru)\y[^0-9]{0,12}(0[1-9]|1[0-2]) ?[/.-]? ?(20[0-9]{2}|[0-9]{2})(?![0-9])'
        OR value ~* '\y(cvc2?|cvv2?|csc|cid|security code|code)\y[^0-9]{0,12}[0-9]{3,4}(?![0-9])'
        OR value ~* '(?<![0-9])[0-9]{3,4}[^0-9a-z]{0,3}(is )?(the |my )?(cvc2?|cvv2?|csc|cid|security code)\y';

UPDATE sms_messages SET body = '[removed: card data]' WHERE payivr_has_card_data(body);

ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_body_no_pan;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_body_no_card_data
    CHECK (NOT payivr_has_card_data(body));
