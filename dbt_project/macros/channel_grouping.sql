{#
  channel_group(source, medium, referrer_host): the default channel grouping of the product marts,
  one SQL expression returning one of
      Direct, Organic Search, Paid Search, Organic Social, Paid Social, Email, Referral,
      Affiliates, Display, Other.
  Arguments are SQL expressions: the UTM source and medium (context.campaign) and the host of the
  EXTERNAL referrer (null when there is none or when the site refers to itself).
  Adapt the rules or the site lists here; every product mart uses this one macro.

  The rules follow GA4's default channel group, simplified to the data a Segment event carries
  (no click ids, no shopping/video/audio/SMS channels). Matching is case-insensitive. The source
  is the UTM source, else the referrer host (GA4 does the same when no UTM tags are present).
  The FIRST rule that matches wins:

    1. Direct          no UTM source, no UTM medium and no external referrer,
                       or source "(direct)" with medium empty, "(none)" or "(not set)"
    2. Affiliates      medium is "affiliate" or "affiliates"
    3. Email           source or medium contains email, e-mail, e_mail or "e mail"
    4. Display         medium is display, banner, expandable, interstitial or cpm
    5. Paid Search     source is a search engine and medium is paid: contains "cp" (cpc, cpm is
                       Display already), is ppc or retargeting, or starts with "paid"
    6. Paid Social     source is a social network and medium is paid,
                       or medium is paid_social / paid-social / paidsocial / social_paid / social-paid
    7. Organic Search  source is a search engine, or medium is "organic"
    8. Organic Social  source is a social network, or medium is social, social-network,
                       social-media, social network, social media or sm
    9. Referral        medium is referral, app or link, or no UTM tags but an external referrer
   10. Other           anything else (for example unknown UTM tags, or a paid medium from an
                       unknown source, GA4's "Paid Other"): unknown inputs are never dropped

  Search engines and social networks are matched as a whole dot-separated label, so "google",
  "www.google.co.uk" and "search.brave.com" are search engines while "googleads.g.doubleclick.net"
  is not. Social networks: facebook, instagram, twitter, linkedin, pinterest, tiktok, snapchat,
  youtube, whatsapp, telegram, threads, tumblr, vk, weibo, quora, discord, messenger, mastodon,
  t.co, x.com, lnkd.in, youtu.be, fb.me and the UTM source abbreviations fb, ig, tw, x, li, yt.
  GA4 also lists reddit as social; here forum and community links count as Referral (add
  "reddit" to social_sites below to follow GA4).
#}
{% macro channel_group(source, medium, referrer_host) -%}
    {#- plain string tests (=, in, strpos, array overlap) rather than regular expressions: this
        runs once per session, millions of times on a full rebuild -#}
    {%- set search_sites = ['google', 'bing', 'yahoo', 'duckduckgo', 'baidu', 'yandex', 'ecosia', 'ask',
        'aol', 'naver', 'seznam', 'qwant', 'startpage', 'brave', 'sogou', 'daum'] -%}
    {%- set social_sites = ['facebook', 'instagram', 'twitter', 'linkedin', 'pinterest', 'tiktok',
        'snapchat', 'youtube', 'whatsapp', 'telegram', 'threads', 'tumblr', 'vk', 'weibo', 'quora',
        'discord', 'messenger', 'mastodon', 'lnkd'] -%}
    {%- set social_exact = ['fb', 'ig', 'tw', 'x', 'li', 'yt', 't.co', 'x.com', 'www.x.com', 'youtu.be', 'fb.me'] -%}
    {%- set utm_source = "nullif(lower(trim(" ~ source ~ ")), '')" -%}
    {%- set utm_medium = "nullif(lower(trim(" ~ medium ~ ")), '')" -%}
    {%- set referrer = "nullif(lower(trim(" ~ referrer_host ~ ")), '')" -%}
    {%- set src = "coalesce(" ~ utm_source ~ ", " ~ referrer ~ ", '')" -%}
    {%- set med = "coalesce(" ~ utm_medium ~ ", '')" -%}
    {%- set src_labels = "string_to_array(" ~ src ~ ", '.')" -%}
    {%- set is_search = "(" ~ src_labels ~ " && array['" ~ search_sites | join("', '") ~ "'])" -%}
    {%- set is_social = "(" ~ src_labels ~ " && array['" ~ social_sites | join("', '") ~ "'] or "
        ~ src ~ " in ('" ~ social_exact | join("', '") ~ "'))" -%}
    {%- set is_paid = "(strpos(" ~ med ~ ", 'cp') > 0 or " ~ med ~ " in ('ppc', 'retargeting') or left(" ~ med ~ ", 4) = 'paid')" -%}
    {%- set email_words = ['email', 'e-mail', 'e_mail', 'e mail'] -%}
    case
        when ({{ utm_source }} is null and {{ utm_medium }} is null and {{ referrer }} is null)
            or ({{ utm_source }} = '(direct)' and {{ med }} in ('', '(none)', '(not set)'))
            then 'Direct'
        when {{ med }} in ('affiliate', 'affiliates')
            then 'Affiliates'
        when {% for word in email_words %}strpos({{ src }}, '{{ word }}') > 0 or strpos({{ med }}, '{{ word }}') > 0{{ " or " if not loop.last }}{% endfor %}
            then 'Email'
        when {{ med }} in ('display', 'banner', 'expandable', 'interstitial', 'cpm')
            then 'Display'
        when {{ is_search }} and {{ is_paid }}
            then 'Paid Search'
        when ({{ is_social }} and {{ is_paid }})
            or {{ med }} in ('paid_social', 'paid-social', 'paidsocial', 'social_paid', 'social-paid')
            then 'Paid Social'
        when {{ is_search }} or {{ med }} = 'organic'
            then 'Organic Search'
        when {{ is_social }}
            or {{ med }} in ('social', 'social-network', 'social-media', 'social network', 'social media', 'sm')
            then 'Organic Social'
        when {{ med }} in ('referral', 'app', 'link')
            or ({{ utm_source }} is null and {{ utm_medium }} is null and {{ referrer }} is not null)
            then 'Referral'
        else 'Other'
    end
{%- endmacro %}
